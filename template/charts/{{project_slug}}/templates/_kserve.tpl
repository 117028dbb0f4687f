{{/*
Named templates of the KServe resources (inferenceservice.yaml, servingruntime.yaml).
*/}}

{{/*
Name of the ServingRuntime (or ClusterServingRuntime) the InferenceService names in runtime mode.
*/}}
{{- define "dsdeploy.kserveRuntimeName" -}}
{{- default (include "dsdeploy.fullname" .) .Values.kserve.runtime.name }}
{{- end }}

{{/*
Where KServe fetches a runtime's model from: kserve.storageUri, else the model image (model.image,
`make model-image`: the files under /models, KServe's modelcar layout) as an oci:// URI.
*/}}
{{- define "dsdeploy.kserveStorageUri" -}}
{{- if .Values.kserve.storageUri }}
{{- .Values.kserve.storageUri }}
{{- else if include "dsdeploy.modelImage" . }}
{{- printf "oci://%s" (include "dsdeploy.modelImage" .) }}
{{- end }}
{{- end }}

{{/*
Refusals of kserve values the schema cannot express, each one sentence naming the fix.
*/}}
{{- define "dsdeploy.kserveChecks" -}}
{{- $mode := dig "serving.kserve.io/deploymentMode" "" (default dict .Values.kserve.annotations) }}
{{- if and .Values.kserve.enabled (not (kindIs "invalid" .Values.kserve.canaryTrafficPercent)) (has $mode (list "Standard" "RawDeployment")) }}
{{- fail "kserve.canaryTrafficPercent works in Knative (serverless) mode only, and KServe's standard mode ignores it: unset it, or drop the deploymentMode annotation on a cluster whose default is serverless" }}
{{- end }}
{{- if and .Values.kserve.enabled (eq .Values.kserve.mode "runtime") }}
{{- if not (include "dsdeploy.kserveStorageUri" .) }}
{{- fail "kserve.mode=runtime needs a model: the runtime loads what KServe puts at /mnt/models; set kserve.storageUri to the model's pvc://, s3:// or gs:// folder, or model.image.tag to a model image (make model-image)" }}
{{- end }}
{{- if and .Values.kserve.runtime.grpcPort (has $mode (list "Serverless" "Knative")) }}
{{- fail "kserve.runtime.grpcPort must be false in Knative (serverless) mode, which allows the container one port; the server still listens for gRPC on 8081 inside the pod" }}
{{- end }}
{{- end }}
{{- end }}
