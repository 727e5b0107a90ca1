{{- define "miroir.name" -}}{{ .Release.Name }}-miroir{{- end -}}
{{- define "miroir.meili" -}}{{ .Release.Name }}-meili{{- end -}}
{{- define "miroir.secret" -}}{{ default (printf "%s-miroir" .Release.Name) .Values.miroir.existingSecret }}{{- end -}}
{{- define "miroir.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: miroir
{{- end -}}
{{/* n0=http://<release>-meili-0.<release>-meili:7700,… */}}
{{- define "miroir.nodes" -}}
{{- $meili := include "miroir.meili" . -}}
{{- $nodes := list -}}
{{- range $i := until (int .Values.meilisearch.replicas) -}}
{{- $nodes = append $nodes (printf "n%d=http://%s-%d.%s:7700" $i $meili $i $meili) -}}
{{- end -}}
{{- join "," $nodes -}}
{{- end -}}
