{{/* The name of every object: the release name, or release-chart when the release name does not say podint. */}}
{{- define "podint.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select podint's pods; they never change across upgrades (a DaemonSet's selector is immutable). */}}
{{- define "podint.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. helm.sh/chart and managed-by exist only in Helm's rendering; the plain manifests drop them. */}}
{{- define "podint.labels" -}}
{{ include "podint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: podint
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "podint.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Host directories shared by the runtime-invoked plugin and the daemon; they follow from the instance root "/" (daemon/instance). */}}
{{- define "podint.hostVolumes" -}}
- name: cni-bin
  hostPath:
    path: {{ .Values.cni.binDir }}
    type: DirectoryOrCreate
- name: cni-conf
  hostPath:
    path: {{ .Values.cni.confDir }}
    type: DirectoryOrCreate
- name: bpffs
  hostPath:
    path: /sys/fs/bpf
    type: DirectoryOrCreate
- name: run
  hostPath:
    path: /run/podint
    type: DirectoryOrCreate
{{- end -}}

{{/* podint-install's flags for the host directories, as mounted at /host. */}}
{{- define "podint.installerArgs" -}}
- --cni-bin-dir=/host{{ .Values.cni.binDir }}
- --cni-conf-dir=/host{{ .Values.cni.confDir }}
{{- if .Values.cni.readByMultus }}
- --read-by-multus
{{- end }}
{{- end -}}

{{- define "podint.installerMounts" -}}
- name: cni-bin
  mountPath: /host{{ .Values.cni.binDir }}
- name: cni-conf
  mountPath: /host{{ .Values.cni.confDir }}
{{- end -}}

{{/* The Secret holding the topology bearer token: the user's (collector.tokenSecret), or the one the chart makes. */}}
{{- define "podint.tokenSecret" -}}
{{- .Values.collector.tokenSecret | default (printf "%s-topology-token" (include "podint.fullname" .)) -}}
{{- end -}}
