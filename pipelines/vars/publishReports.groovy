/**
 * post { always { publishReports() } }: archive every report coursectl wrote, publish the JUnit results
 * (unit, integration, journey, quality gate, scans, analysis, load test) and the scanners' SARIF (Warnings NG).
 */
def call(Map opts = [:]) {
    String reports = opts.reports ?: 'reports'
    archiveArtifacts(artifacts: "${reports}/**", allowEmptyArchive: true, fingerprint: false)
    junit(testResults: "${reports}/junit/*.xml", allowEmptyResults: true, keepLongStdio: true)
    if (findFiles(glob: "${reports}/scan/*.sarif").length > 0) {
        recordIssues(
            enabledForFailure: true,
            tools: [sarif(pattern: "${reports}/scan/*.sarif", id: 'coursectl-scan', name: 'Trivy and Snyk')],
            qualityGates: [[threshold: 1, type: 'TOTAL_ERROR', unstable: false]]
        )
    }
}
