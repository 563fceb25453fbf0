'use strict';
// KustoError: an error that the emulator renders as Kusto's error JSON
// (kusto-protocol.md, section A):
//   {"error":{"code","message","@type","@message","@context":{...},"@permanent":bool}}
// Thrown by the engine (lib/engine), the DM (lib/dm) and the server (lib/*.js).

class KustoError extends Error {
  /**
   * @param {number} status   HTTP status (400, 401, 403, 404, 409, 413, 429, 500, 503, ...)
   * @param {string} code     Kusto error code, e.g. "BadRequest_EntityNotFound", "General_BadRequest"
   * @param {string} message  human-readable message (becomes "@message" and, prefixed, "message")
   * @param {object} [opts]   { permanent: bool (default: status is 4xx other than 429),
   *                            type: "@type" (default "Kusto.Data.Exceptions.KustoBadRequestException"),
   *                            retryAfter: seconds (for 429/503, sent as Retry-After) }
   */
  constructor(status, code, message, opts = {}) {
    super(message);
    this.name = 'KustoError';
    this.status = status;
    this.code = code;
    this.permanent = opts.permanent !== undefined
      ? !!opts.permanent
      : (status >= 400 && status < 500 && status !== 429);
    this.type = opts.type || defaultType(status);
    this.retryAfter = opts.retryAfter;
  }

  /** The error body as Kusto sends it. */
  toJSON(context = {}) {
    return {
      error: {
        code: this.code,
        message: `${this.code}: ${this.message}`,
        '@type': this.type,
        '@message': this.message,
        '@context': context,
        '@permanent': this.permanent,
      },
    };
  }
}

function defaultType(status) {
  if (status === 401) return 'Kusto.Common.Svc.Exceptions.UnauthorizedOperationException';
  if (status === 403) return 'Kusto.DataNode.Exceptions.ForbiddenOperationException';
  if (status === 404) return 'Kusto.Data.Exceptions.EntityNotFoundException';
  if (status === 429) return 'Kusto.DataNode.Exceptions.ControlCommandThrottledException';
  if (status >= 500) return 'Kusto.Data.Exceptions.KustoServiceException';
  return 'Kusto.Data.Exceptions.KustoBadRequestException';
}

module.exports = { KustoError };
