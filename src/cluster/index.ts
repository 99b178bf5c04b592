export { runCluster, type RunClusterOptions, type ClusterHandle, type ClusterApp } from './run-cluster'
