// gatewire/prometheus: gatewire's metrics in a prom-client registry (prom-client is an optional
// peer dependency: only this entry point loads it).
export { prometheusMetrics, type MetricsSource, type PrometheusMetricsOptions } from './metrics/prometheus-metrics'
