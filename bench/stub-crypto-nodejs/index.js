/* global module */
// See package.json: matrix-bot-sdk requires this module at load time but the
// benchmark never turns its encryption on, so every export is left undefined.
module.exports = {};
