import org.courseplatform.pipeline.CommandLine
import org.courseplatform.pipeline.ExitCodes

/**
 * Runs one coursectl command line and turns its exit code into the build's result through ExitCodes (the one
 * mapping). Never prompts: stdin is closed and coursectl asks for --yes instead of a question.
 *
 *   coursectl 'scan --kind fs --report reports/scan/fs.sarif'
 *   coursectl('quality-gate --junit reports/junit/quality-gate.xml', gateResult: 'UNSTABLE')
 *   String json = coursectl('status --env prod -o json', returnStdout: true)
 *
 * Options: gateResult (FAILURE or UNSTABLE: what exit 6 does to the build), lockWait (seconds the retry of exit 8
 * waits for the deploy lock, default 600), returnStdout (give back what coursectl printed).
 */
def call(String args) {
    return call([:], args)
}

def call(Map opts, String args) {
    String gateResult = opts.gateResult ?: 'FAILURE'
    int lockWait = (opts.lockWait ?: 600) as int
    boolean wantStdout = opts.returnStdout ?: false
    Map run = runOnce(CommandLine.of(args), wantStdout)
    Map outcome = ExitCodes.outcome(run.code as int)
    if (outcome.action == ExitCodes.RETRY_WITH_LOCK_WAIT && ExitCodes.acceptsLockWait(args)) {
        echo "${CommandLine.PROGRAM}: ${outcome.meaning}; trying again, waiting up to ${lockWait} s for the lock"
        run = runOnce(CommandLine.withLockWait(args, lockWait), wantStdout)
        outcome = ExitCodes.outcome(run.code as int)
    }
    if (outcome.action == ExitCodes.OK) {
        return wantStdout ? run.stdout : run.code
    }
    String message = "${CommandLine.PROGRAM} ${args.tokenize(' ')[0]}: exit ${run.code}: ${outcome.meaning}"
    String result = ExitCodes.buildResult(run.code as int, gateResult)
    if (outcome.action == ExitCodes.GATE && result == 'UNSTABLE') {
        unstable(message)
        return wantStdout ? run.stdout : run.code
    }
    currentBuild.result = result  // a result only gets worse: ABORTED stays ABORTED through error()
    error(message)
}

private Map runOnce(String line, boolean wantStdout) {
    String script = "${line} </dev/null"
    if (wantStdout) {
        String file = ".coursectl-stdout-${UUID.randomUUID()}"
        int code = sh(script: "${script} >${file}", returnStatus: true, label: line)
        String out = fileExists(file) ? readFile(file) : ''
        sh(script: "rm -f ${file}", label: 'clean up')
        return [code: code, stdout: out]
    }
    return [code: sh(script: script, returnStatus: true, label: line), stdout: '']
}
