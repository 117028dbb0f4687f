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
Refusals of kserve values the schema cannot express, each one sentence naming the fix.
*/}}
{{- define "dsdeploy.kserveChecks" -}}
{{- $mode := dig "serving.kserve.io/deploymentMode" "" (default dict .Values.kserve.annotations) }}
{{- if and .Values.kserve.enabled (not (kindIs "invalid" .Values.kserve.canaryTrafficPercent)) (has $mode (list "Standard" "RawDeployment")) }}
{{- fail "kserve.canaryTrafficPercent works in Knative (serverless) mode only, and KServe's standard mode ignores it: unset it, or drop the deploymentMode annotation on a cluster whose default is serverless" }}
{{- end }}
{{- if and .Values.kserve.enabled (eq .Values.kserve.mode "runtime") }}
{{- if not .Values.kserve.storageUri }}
{{- fail "kserve.storageUri is required with kserve.mode=runtime: the runtime loads the model KServe puts at /mnt/models; set it to the model's pvc://, s3:// or gs:// folder or to oci://<model image> (make model-image)" }}
{{- end }}
{{- if and .Values.kserve.runtime.grpcPort (has $mode (list "Serverless" "Knative")) }}
{{- fail "kserve.runtime.grpcPort must be false in Knative (serverless) mode, which allows the container one port; the server still listens for gRPC on 8081 inside the pod" }}
{{- end }}
{{- end }}
{{- end }}
