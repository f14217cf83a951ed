// Runs the shared library's coursectl step with Jenkins' steps stubbed (sh, echo, error, unstable, currentBuild),
// as JenkinsPipelineUnit would if it could be installed here: one scenario per coursectl exit code.
// Run: java -cp groovy-4.0.x.jar groovy.ui.GroovyMain pipelines/test/LibraryTest.groovy  (prints "N passed, M failed")

import groovy.transform.Field

@Field File root = new File(getClass().protectionDomain.codeSource.location.path).parentFile.parentFile
@Field int passed = 0
@Field int failed = 0

class StepError extends RuntimeException {

    StepError(String message) { super(message) }

}

Map runStep(List<Integer> codes, Map opts, String args) {
    GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
    loader.addClasspath(new File(root, 'src').path)
    List<String> lines = []
    List<String> unstables = []
    List<String> echoes = []
    Map build = [result: null]
    Iterator<Integer> next = codes.iterator()
    Binding binding = new Binding([
        currentBuild: build,
        sh: { Map step ->
            lines << step.script
            return step.returnStatus ? next.next() : ''
        },
        echo: { String text -> echoes << text },
        unstable: { String text -> unstables << text },
        error: { String text -> throw new StepError(text) },
        fileExists: { String f -> false },
        readFile: { String f -> '' },
    ])
    Script step = new GroovyShell(loader, binding).parse(new File(root, 'vars/coursectl.groovy'))
    Object value = null
    String error = null
    try {
        value = opts ? step.invokeMethod('call', [opts, args] as Object[]) : step.invokeMethod('call', args)
    } catch (StepError e) {
        error = e.message
    }
    return [value: value, error: error, lines: lines, unstables: unstables, echoes: echoes, result: build.result]
}

void check(String name, boolean ok, Object seen) {
    if (ok) {
        passed++
    } else {
        failed++
        println "FAILED ${name}: ${seen}"
    }
}

Map r = runStep([0], [:], 'scan --kind fs')
check('exit 0 passes', r.error == null && r.value == 0 && r.result == null, r)
check('no prompt: stdin closed', r.lines == ['coursectl scan --kind fs </dev/null'], r.lines)

r = runStep([6], [:], 'quality-gate --junit r.xml')
check('exit 6 fails the build by default', r.error?.contains('a gate blocked the change') && r.result == 'FAILURE', r)

r = runStep([6], [gateResult: 'UNSTABLE'], 'scan --kind image')
check('exit 6 with gateResult UNSTABLE marks the build unstable', r.error == null && r.unstables.size() == 1 &&
      r.result == null, r)

r = runStep([7], [:], 'deploy course --env prod --version v2 --yes')
check('exit 7 fails and says the rollback was done', r.result == 'FAILURE' && r.error?.contains('rolled back'), r)

r = runStep([8, 0], [lockWait: 120], 'deploy course --env prod --version v2 --yes')
check('exit 8 is retried once with --lock-wait', r.error == null && r.lines.size() == 2 &&
      r.lines[1] == 'coursectl deploy course --env prod --version v2 --yes --lock-wait 120 </dev/null', r.lines)

r = runStep([8, 8], [:], 'deploy course --env prod --version v2 --yes')
check('exit 8 twice fails', r.result == 'FAILURE' && r.lines.size() == 2 && r.error?.contains('lock'), r)

r = runStep([8], [:], 'rollback course --env prod --yes')
check('exit 8 of a command without --lock-wait is not retried', r.lines.size() == 1 && r.result == 'FAILURE', r)

r = runStep([130], [:], 'release --env local --yes')
check('exit 130 aborts the build', r.result == 'ABORTED' && r.error != null, r)

[2, 3, 4, 5, 1, 99].each { int code ->
    Map s = runStep([code], [:], 'status')
    check("exit ${code} fails the build", s.result == 'FAILURE' && s.error?.contains("exit ${code}"), s)
}

println "${passed} passed, ${failed} failed"
if (failed) {
    throw new AssertionError("${failed} scenario(s) of the coursectl step failed")
}
