/**
 * Runs the SonarQube scanner with the platform's project settings (from the library's resources), inside
 * withSonarQubeEnv so that the server URL and token come from Jenkins. coursectl quality-gate then waits for it.
 */
def call(Map opts = [:]) {
    String server = opts.server ?: 'sonarqube'
    writeFile(file: 'sonar-project.properties',
              text: libraryResource('org/courseplatform/pipeline/sonar-project.properties'))
    withSonarQubeEnv(server) {
        sh(script: 'sonar-scanner -Dsonar.qualitygate.wait=false', label: 'sonar-scanner')
    }
}
