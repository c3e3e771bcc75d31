/**
 * The network-free layer of the command framework: splitting, prefixes, typed argument
 * declarations and parsers, and the command error hierarchy.
 *
 * @module
 */
export * from "./errors.js";
export * from "./split.js";
export * from "./matrix.js";
export * from "./parsers.js";
export {
  compileSignature,
  validateSpecs,
  type ArgumentDefault,
  type ArgumentMode,
  type ArgumentSpec,
  type BuiltinTypes,
  type SignatureArgs,
  type TypesWith,
  type ValidateSignature,
} from "./signature.js";
export * from "./arguments.js";
export * from "./parse.js";
export * from "./prefix.js";
// The framework on top: definitions, the router, context, checks, cooldowns, modules, help.
export * from "./command.js";
export * from "./registry.js";
export * from "./context.js";
export * from "./response.js";
export * from "./checks.js";
export * from "./cooldown.js";
export * from "./module.js";
export * from "./conversation.js";
export { CommandRouter, defaultErrorMessage, type CommandPrefix, type RouterOptions } from "./router.js";
export { helpCommand } from "./help.js";
export { defaultMessages, errorMessage, resolveMessages, type FrameworkMessages } from "./messages.js";
// MSC4391: command descriptions for clients, structured invocations.
export * from "./msc4391/schema.js";
export { canonicalJson, describeCommand, describeCommands, describeParameter, schemaOfSpec } from "./msc4391/description.js";
export {
  MAX_STRUCTURED_COMMAND_LENGTH,
  MAX_STRUCTURED_ITEMS,
  MAX_STRUCTURED_VALUE_LENGTH,
  parseStructuredArguments,
  readStructuredInvocation,
  type StructuredInvocation,
} from "./msc4391/invocation.js";
export { CommandPublisher, canPublishIn, stateEventLevel, type PublisherStats } from "./msc4391/publisher.js";
