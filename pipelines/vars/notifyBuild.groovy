/**
 * post { always { notifyBuild() } }: announce the build's result through coursectl's notification routes
 * (Slack, e-mail). coursectl never fails a build because a channel failed (exit 0, a warning in the log).
 */
def call() {
    String result = currentBuild.currentResult
    long seconds = (currentBuild.duration / 1000) as long
    coursectl("notify build --result ${result} --duration ${seconds}", gateResult: 'UNSTABLE')
}
