// Errors that travel to clients. Each class is named after the wire error a client expects, so
// the HTTP layer maps any thrown ServiceError to its protocol's error shape mechanically.

/** Base of every error a client is meant to see; `name` is the wire error name. */
export class ServiceError extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

export class ResourceNotFoundException extends ServiceError {}
export class ResourceInUseException extends ServiceError {}
export class InvalidArgumentException extends ServiceError {}
export class LimitExceededException extends ServiceError {}
export class ProvisionedThroughputExceededException extends ServiceError {}
export class ExpiredIteratorException extends ServiceError {}
export class ExpiredNextTokenException extends ServiceError {}
export class ValidationException extends ServiceError {}
export class SerializationException extends ServiceError {}
export class UnknownOperationException extends ServiceError {}
export class AccessDeniedException extends ServiceError {
  // 403 in REST services; the awsJson Data Streams API answers it with 400.
  constructor(message: string, status = 403) {
    super(message, status);
  }
}
export class UnrecognizedClientException extends ServiceError {}
export class InvalidSignatureException extends ServiceError {}
export class IncompleteSignatureException extends ServiceError {}
export class MissingAuthenticationTokenException extends ServiceError {
  constructor(message: string) {
    super(message, 403);
  }
}
export class InternalFailure extends ServiceError {
  constructor(message: string) {
    super(message, 500);
  }
}
export class KMSNotFoundException extends ServiceError {}
export class KMSInvalidStateException extends ServiceError {}

// Kinesis Video Streams errors, with the HTTP status the SDK v3 models give them. Its
// ResourceNotFoundException is a 404 (the class above defaults to Data Streams' 400): Kinesis
// Video code passes the status when it throws one.
export class ClientLimitExceededException extends ServiceError {}
export class ConnectionLimitExceededException extends ServiceError {}
export class AccountStreamLimitExceededException extends ServiceError {}
export class DeviceStreamLimitExceededException extends ServiceError {}
export class InvalidDeviceException extends ServiceError {}
export class InvalidEndpointException extends ServiceError {}
export class InvalidResourceFormatException extends ServiceError {}
export class NoDataRetentionException extends ServiceError {}
export class TagsPerResourceExceededLimitException extends ServiceError {}
export class VersionMismatchException extends ServiceError {}
export class UnsupportedStreamMediaTypeException extends ServiceError {}
export class MissingCodecPrivateDataException extends ServiceError {}
export class InvalidCodecPrivateDataException extends ServiceError {}
export class InvalidMediaFrameException extends ServiceError {}
export class NotAuthorizedException extends ServiceError {
  constructor(message: string) {
    super(message, 401);
  }
}
