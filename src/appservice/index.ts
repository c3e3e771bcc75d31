/**
 * Appservice mode (`new NioBot({ appservice: { registration, listen } })`):
 * pushed transactions instead of sync, virtual users, registration files.
 * See `docs/guides/appservice.md`.
 *
 * @module
 */
export { Appservice, AppserviceIdentityError, type AppserviceHost, type AppserviceOptions, type AppserviceStartOptions } from "./appservice.js";
export {
  escapeRegex,
  generateRegistration,
  loadRegistration,
  NamespaceMatcher,
  parseRegistration,
  RegistrationError,
  registrationToYaml,
  validateRegistration,
  type AppserviceNamespace,
  type AppserviceRegistration,
  type GenerateRegistrationOptions,
} from "./registration.js";
export { AppserviceServer, type AppserviceHandlers, type AppserviceServerOptions, type ListenOptions, type TransactionBody } from "./server.js";
export { TransactionEngine, TransactionIncompleteError, type TransactionEngineOptions } from "./transactions.js";
export { VirtualUser, type VirtualUserHost, type VirtualUserProfile } from "./virtual.js";
