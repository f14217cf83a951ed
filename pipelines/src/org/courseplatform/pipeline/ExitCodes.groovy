package org.courseplatform.pipeline

/**
 * coursectl's exit codes and what a build does with each: the ONE place of the library that maps them.
 *
 *   0    the stage passed
 *   6    a gate blocked the change (scan policy, quality gate, journey, load test, analysis): the build takes
 *        the result the calling stage gives its gate (FAILURE by default, UNSTABLE where a gate only warns)
 *   7    a rollout failed and coursectl already rolled it back: FAILURE, saying that traffic is safe
 *   8    the deploy lock is held: run the same command again once, waiting for the lock (--lock-wait)
 *   130  interrupted: ABORTED
 *   2, 3, 4, 5 and anything else: FAILURE with coursectl's own meaning
 */
class ExitCodes implements Serializable {

    private static final long serialVersionUID = 1L

    static final String OK = 'ok'
    static final String GATE = 'gate'
    static final String FAIL = 'fail'
    static final String RETRY_WITH_LOCK_WAIT = 'retry-with-lock-wait'

    /** Commands that accept --lock-wait (the retry of exit 8 adds it). */
    static final List<String> LOCK_WAIT_COMMANDS = ['deploy']

    static final Map<Integer, Map<String, String>> OUTCOMES = [
        0  : [action: OK, result: 'SUCCESS', meaning: 'success'],
        2  : [action: FAIL, result: 'FAILURE', meaning: 'usage: the pipeline passed a flag coursectl does not know'],
        3  : [action: FAIL, result: 'FAILURE', meaning: 'the configuration (coursectl.yaml) is invalid'],
        4  : [action: FAIL, result: 'FAILURE', meaning: 'a precondition is not met (tool, login, image, service)'],
        5  : [action: FAIL, result: 'FAILURE', meaning: 'an external tool or service failed or timed out'],
        6  : [action: GATE, result: 'FAILURE', meaning: 'a gate blocked the change'],
        7  : [action: FAIL, result: 'FAILURE',
              meaning: 'the rollout failed and was rolled back: traffic is on the old version'],
        8  : [action: RETRY_WITH_LOCK_WAIT, result: 'FAILURE', meaning: 'the deploy lock is held by someone else'],
        130: [action: FAIL, result: 'ABORTED', meaning: 'interrupted'],
    ]

    static Map<String, String> outcome(int code) {
        Map<String, String> known = OUTCOMES[code]
        return known ?: [action: FAIL, result: 'FAILURE', meaning: "internal error of coursectl (exit ${code})".toString()]
    }

    /** The build result of exit code {@code code} given the result the stage chose for its gate. */
    static String buildResult(int code, String gateResult) {
        Map<String, String> o = outcome(code)
        return o.action == GATE ? gateResult : o.result
    }

    static boolean acceptsLockWait(String args) {
        String command = args.trim().tokenize(' ').find { String word -> !word.startsWith('-') }
        return command in LOCK_WAIT_COMMANDS
    }

}
