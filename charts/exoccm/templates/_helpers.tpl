{{/* Names: the usual Helm conventions, cut to the 63 characters a label value allows. */}}
{{- define "exoccm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "exoccm.fullname" -}}
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

{{- define "exoccm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "exoccm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exoccm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "exoccm.labels" -}}
helm.sh/chart: {{ include "exoccm.chart" . }}
{{ include "exoccm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: cloud-controller-manager
app.kubernetes.io/part-of: exoccm
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "exoccm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "exoccm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: set the name of an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "exoccm.leaseName" -}}
{{- default (include "exoccm.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "exoccm.credentialsSecretName" -}}
{{- if .Values.credentials.create -}}
{{- printf "%s-credentials" (include "exoccm.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- required "credentials.existingSecret: name the Secret holding the Exoscale API key, or set credentials.create=true with credentials.apiKey and credentials.apiSecret" .Values.credentials.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "exoccm.cloudConfigName" -}}
{{- printf "%s-cloud-config" (include "exoccm.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "exoccm.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Whether the cluster serves the Prometheus Operator's monitoring.coreos.com/v1 kind given. */}}
{{- define "exoccm.hasMonitoringKind" -}}
{{- if .root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind) -}}true{{- end -}}
{{- end -}}

{{/* The metrics Service exists when asked for, and whenever a ServiceMonitor needs it. */}}
{{- define "exoccm.metricsServiceEnabled" -}}
{{- if or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The controllers exoccm runs with these values, as a JSON object of name: true. The same rules
as EXOCCM_CONTROLLERS (`*` = the controllers on by default, the Go CCM's names, `-name` wins),
plus csrApproval.enabled (EXOSCALE_SKS_AGENT_RUNNERS=node-csr-validation) and the cloud-config's
`disabled` switches. The RBAC rules follow it; a test renders the chart against exoccm's
controller registry (exoccm/controllers/registry.py), so this table must name the same ones.
*/}}
{{- define "exoccm.enabledControllers" -}}
{{- $onByDefault := list "service" "node" "lifecycle" -}}
{{- $aliases := dict "cloud-node" "node" "cloud-node-lifecycle" "lifecycle" -}}
{{- $enabled := dict -}}
{{- $disabled := dict -}}
{{- range .Values.controllers -}}
{{- $name := trimPrefix "-" . -}}
{{- $name = default $name (get $aliases $name) -}}
{{- if hasPrefix "-" . -}}
{{- $_ := set $disabled $name true -}}
{{- else if eq $name "*" -}}
{{- range $onByDefault }}{{ $_ := set $enabled . true }}{{ end -}}
{{- else -}}
{{- $_ := set $enabled $name true -}}
{{- end -}}
{{- end -}}
{{- if .Values.csrApproval.enabled -}}
{{- $_ := set $enabled "csr" true -}}
{{- end -}}
{{- if dig "loadBalancer" "disabled" false .Values.cloudConfig -}}
{{- $_ := set $disabled "service" true -}}
{{- end -}}
{{- if dig "instances" "disabled" false .Values.cloudConfig -}}
{{- $_ := set $disabled "node" true -}}
{{- $_ := set $disabled "lifecycle" true -}}
{{- end -}}
{{- range keys $disabled -}}
{{- $_ := unset $enabled . -}}
{{- end -}}
{{- toJson $enabled -}}
{{- end -}}

{{/*
Cross-value rules the schema cannot express with a helpful message. Included by the Deployment,
so every render checks them.
*/}}
{{- define "exoccm.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: replicas would act at the same time; enable leader election or set replicaCount to 1" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (has "csr" .Values.controllers) (not .Values.csrApproval.enabled) -}}
{{- fail "controllers contains csr but csrApproval.enabled is false: set csrApproval.enabled=true instead, which also grants the RBAC rules CSR approval needs" -}}
{{- end -}}
{{- with .Values.cloudConfig.global -}}
{{- if or (hasKey . "apiKey") (hasKey . "apiSecret") -}}
{{- fail "cloudConfig.global: apiKey and apiSecret do not belong in the cloud-config, which is rendered into a ConfigMap (not secret); use credentials.existingSecret or credentials.create instead" -}}
{{- end -}}
{{- end -}}
{{- if .Values.credentials.create -}}
{{- if or (not .Values.credentials.apiKey) (not .Values.credentials.apiSecret) -}}
{{- fail "credentials.create is true: set both credentials.apiKey and credentials.apiSecret (or use credentials.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The environment the chart manages, as a YAML list. The Deployment refuses `env`/`extraEnv`
entries with the same names, because two entries with one name confuse server-side apply.
*/}}
{{- define "exoccm.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: EXOSCALE_API_ZONE
  value: {{ .Values.zone | quote }}
{{- if .Values.apiEndpoint }}
- name: EXOSCALE_API_ENDPOINT
  value: {{ .Values.apiEndpoint | quote }}
{{- end }}
{{- if .Values.credentials.mountAsFile }}
- name: EXOSCALE_API_CREDENTIALS_FILE
  value: {{ printf "%s/credentials.json" (trimSuffix "/" .Values.credentials.mountPath) | quote }}
{{- else }}
- name: EXOSCALE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "exoccm.credentialsSecretName" . }}
      key: {{ .Values.credentials.keys.apiKey | quote }}
- name: EXOSCALE_API_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "exoccm.credentialsSecretName" . }}
      key: {{ .Values.credentials.keys.apiSecret | quote }}
{{- end }}
{{- if .Values.csrApproval.enabled }}
- name: EXOSCALE_SKS_AGENT_RUNNERS
  value: node-csr-validation
{{- end }}
{{- if .Values.clusterId }}
- name: EXOCCM_CLUSTER_ID
  value: {{ .Values.clusterId | quote }}
{{- end }}
- name: EXOCCM_CONTROLLERS
  value: {{ join "," .Values.controllers | quote }}
- name: EXOCCM_EXISTING_NLB_NAMESPACES
  value: {{ join "," .Values.existingNLBNamespaces | quote }}
{{- if .Values.cloudConfig }}
- name: EXOCCM_CLOUD_CONFIG
  value: /etc/exoccm/cloud-config.yaml
{{- end }}
- name: EXOCCM_LEADER_ELECT
  value: {{ .Values.leaderElection.enabled | quote }}
- name: EXOCCM_LEADER_ELECTION_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: EXOCCM_LEADER_ELECTION_NAME
  value: {{ include "exoccm.leaseName" . | quote }}
- name: EXOCCM_LEASE_DURATION
  value: {{ .Values.leaderElection.leaseDuration | toString | quote }}
- name: EXOCCM_RENEW_DEADLINE
  value: {{ .Values.leaderElection.renewDeadline | toString | quote }}
- name: EXOCCM_RETRY_PERIOD
  value: {{ .Values.leaderElection.retryPeriod | toString | quote }}
- name: EXOCCM_METRICS_PORT
  value: {{ .Values.metrics.port | int | toString | quote }}
- name: EXOCCM_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: EXOCCM_LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
{{- end -}}
