{{/* Labels of every object of this chart. */}}
{{- define "course-platform.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
coursectl.io/environment: {{ .Values.environment | quote }}
{{- end -}}
