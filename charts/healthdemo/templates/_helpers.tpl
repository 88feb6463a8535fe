{{/* The operator's name: every object of deploy/ is called by it (fixed, as there: the
ClusterRoles are cluster-wide, so one install per cluster). */}}
{{- define "healthdemo.name" -}}
healthdemo-operator
{{- end }}

{{/* Where the operator runs (values: namespace.name). */}}
{{- define "healthdemo.namespace" -}}
{{ .Values.namespace.name }}
{{- end }}

{{/* The Deployment's selector, its Pods' labels and the Services' selector. */}}
{{- define "healthdemo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "healthdemo.name" . }}
{{- end }}

{{/* repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "healthdemo.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
