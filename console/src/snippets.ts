// Copy-paste configuration for a new key, filled in with this API's origin, the project and the
// secret (the README's "Sending and querying data" section, for exactly this key).

export interface Snippet {
  id: string;
  title: string;
  text: string;
  /** The scope a snippet needs; shown only when the key holds it. */
  scope: string;
}

export function snippets(origin: string, projectId: string, key: string): Snippet[] {
  const base = `${origin}/p/${projectId}`;
  return [
    {
      id: "otel",
      title: "OpenTelemetry SDK or Collector (OTLP/HTTP)",
      scope: "logs:write",
      text: [
        `export OTEL_EXPORTER_OTLP_ENDPOINT=${base}/otlp`,
        `export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${key}"`,
        "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
      ].join("\n"),
    },
    {
      id: "prometheus",
      title: "Prometheus remote_write",
      scope: "metrics:write",
      text: [
        "remote_write:",
        `  - url: ${base}/prometheus/api/v1/write`,
        `    authorization: {type: Bearer, credentials: ${key}}`,
        "    queue_config: {retry_on_http_429: true}",
      ].join("\n"),
    },
    {
      id: "vmagent",
      title: "vmagent",
      scope: "metrics:write",
      text: `vmagent -remoteWrite.url=${base}/prometheus/api/v1/write -remoteWrite.bearerToken=${key}`,
    },
    {
      id: "curl-logs",
      title: "Send a log line with curl",
      scope: "logs:write",
      text: [
        `curl -s -X POST ${base}/ingest/logs \\`,
        `  -H "Authorization: Bearer ${key}" -H 'content-type: application/json' \\`,
        `  -d '{"service_id":"checkout","level":"ERROR","message":"Database timeout"}'`,
      ].join("\n"),
    },
    {
      id: "grafana",
      title: "Grafana (Prometheus data source)",
      scope: "metrics:read",
      text: [`URL: ${base}/prometheus`, `Custom HTTP header: Authorization = Bearer ${key}`].join(
        "\n",
      ),
    },
  ];
}

/** The snippets this key can use (a write-only metrics key gets no log snippet). */
export function snippetsFor(origin: string, projectId: string, key: string, scopes: string[]) {
  return snippets(origin, projectId, key).filter((s) => scopes.includes(s.scope));
}
