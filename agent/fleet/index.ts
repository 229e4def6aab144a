// Pushed configs on the device: the supervisor that swaps the running Agent, the offer/report
// protocol, and the state kept in <dataDir>/pushed-config.json.

export { AgentSupervisor, type AgentSupervisorOptions } from './supervisor.js';
export { ConfigOfferError, parseConfigOffer, type ConfigOffer, type ConfigReport } from './protocol.js';
export { PUSHED_CONFIG_FILE } from './pushed-config-state.js';
