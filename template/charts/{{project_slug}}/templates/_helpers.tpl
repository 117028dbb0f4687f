{{/*
Named templates shared by every manifest of this chart.

They are prefixed "dsdeploy." rather than with the chart name so that the template files stay
plain Helm (only *.jinja files are rendered by copier). Helm defines named templates globally
across a chart and its subcharts; two dsdeploy charts in one umbrella chart define identical
bodies, so the shared prefix is harmless there.
*/}}

{{/*
Chart name, or nameOverride; truncated to 63 characters (the DNS-1123 label limit).
*/}}
{{- define "dsdeploy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of every resource: fullnameOverride, or "<release>-<chart>", or just the
release name when it already contains the chart name. 63 characters at most.
*/}}
{{- define "dsdeploy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"name-version" for the helm.sh/chart label ("+" is not allowed in label values).
*/}}
{{- define "dsdeploy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "dsdeploy.labels" -}}
helm.sh/chart: {{ include "dsdeploy.chart" . }}
{{ include "dsdeploy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "dsdeploy.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that identify this release's resources of this chart. Every workload adds its own
app.kubernetes.io/component, so pods of one component (the `helm test` pod, a batch job) are
never picked up by another component's selector.
*/}}
{{- define "dsdeploy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsdeploy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector of the model server's pods (Deployment, Service, HPA, PDB, NetworkPolicy). A Deployment's
selector cannot change after install: keep these labels stable.
*/}}
{{- define "dsdeploy.serverSelectorLabels" -}}
{{ include "dsdeploy.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/*
ServiceAccount the pods run as.
*/}}
{{- define "dsdeploy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dsdeploy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: "repository@digest" when a digest is set, else "repository:tag" with the tag
defaulting to the chart's appVersion (never "latest").
*/}}
{{- define "dsdeploy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The model image (model.image: `make model-image`, the model's files under /models) as a reference:
by digest when one is given, else by tag; empty when neither is set (the image's own model).
*/}}
{{- define "dsdeploy.modelImage" -}}
{{- with .Values.model.image }}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else if .tag }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name the model is served under: /v2/models/<name> and the MODEL_NAME variable.
*/}}
{{- define "dsdeploy.modelName" -}}
{{- default .Chart.Name .Values.model.name }}
{{- end }}

{{/*
Label that lets a pod through the NetworkPolicy when networkPolicy.allowExternal is false
(name part cut to fit the 63-character label-name limit).
*/}}
{{- define "dsdeploy.clientLabel" -}}
{{ include "dsdeploy.fullname" . | trunc 56 | trimSuffix "-" }}-client: "true"
{{- end }}

{{/*
Container resources with the GPU request merged into the limits (extended resources are set
as limits; Kubernetes copies them to requests).
*/}}
{{- define "dsdeploy.resources" -}}
{{- $resources := deepCopy .Values.resources }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $limits := default dict $resources.limits }}
{{- $_ := set $limits .Values.gpu.resourceName (int .Values.gpu.count) }}
{{- $_ := set $resources "limits" $limits }}
{{- end }}
{{- toYaml $resources }}
{{- end }}
