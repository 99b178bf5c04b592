export { InProcessBroker, InProcessHub } from './in-process-broker'
export { PRESENCE_EXPIRY_MS } from './broker'
export type { Broker, BrokerSink, BrokerState, BrokerMessage, BrokerStats, Presence, PresenceMember } from './broker'
export { clusterBroker, ClusterBroker, ClusterHub } from './cluster-broker'
