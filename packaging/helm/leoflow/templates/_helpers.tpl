{{/* Names, labels and Secret references shared by the templates. */}}

{{- define "leoflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: <release>-leoflow, or the release name when it holds "leoflow". */}}
{{- define "leoflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "leoflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leoflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "leoflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "leoflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "leoflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "leoflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "leoflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The namespace task pods run in: kubernetes.namespace, else the release's. */}}
{{- define "leoflow.taskNamespace" -}}
{{- default .Release.Namespace .Values.kubernetes.namespace -}}
{{- end -}}

{{/* The Secret the chart creates from values (when some existingSecret is not given). */}}
{{- define "leoflow.secretName" -}}
{{- printf "%s-secrets" (include "leoflow.fullname" .) -}}
{{- end -}}

{{- define "leoflow.databaseSecretName" -}}
{{- default (include "leoflow.secretName" .) .Values.database.existingSecret -}}
{{- end -}}
{{- define "leoflow.databaseSecretKey" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecretKey }}{{- else -}}database-url{{- end -}}
{{- end -}}

{{- define "leoflow.redisSecretName" -}}
{{- default (include "leoflow.secretName" .) .Values.redis.existingSecret -}}
{{- end -}}
{{- define "leoflow.redisSecretKey" -}}
{{- if .Values.redis.existingSecret -}}{{ .Values.redis.existingSecretKey }}{{- else -}}redis-url{{- end -}}
{{- end -}}

{{- define "leoflow.authSecretName" -}}
{{- default (include "leoflow.secretName" .) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "leoflow.authSecretKey.jwtSecret" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKeys.jwtSecret }}{{- else -}}jwt-secret{{- end -}}
{{- end -}}
{{- define "leoflow.authSecretKey.fernetKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKeys.fernetKey }}{{- else -}}fernet-key{{- end -}}
{{- end -}}
{{- define "leoflow.authSecretKey.bootstrapPassword" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKeys.bootstrapPassword }}{{- else -}}bootstrap-password{{- end -}}
{{- end -}}

{{/* Whether the chart creates its own Secret: some value is not in an existing Secret. */}}
{{- define "leoflow.createsSecret" -}}
{{- if or (not .Values.database.existingSecret) (not .Values.redis.existingSecret) (not .Values.auth.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* The database URL from its Secret: what both the server and the migrations Job read. */}}
{{- define "leoflow.databaseEnv" -}}
- name: LEOFLOW_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "leoflow.databaseSecretName" . }}
      key: {{ include "leoflow.databaseSecretKey" . }}
{{- end -}}
