export { startComputeEmulator, remoteComputeControl } from './emulator.js';
export type { ComputeEmulator, ComputeEmulatorOptions } from './emulator.js';
export type {
  ComputeEmulatorControl,
  ComputeEmulatorStats,
  CreateLocalInstance,
  LocalInstanceInfo,
  LocalMachineHealth,
  OperationErrorSpec,
  QuotaLimits,
  QuotaMetric,
} from './control.js';
