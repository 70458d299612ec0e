/** Public surface of the schema package; see README.md. */
export type { ApiResourceInfo } from './resource-info.js';
export { OpenApiPublisher, customResourceDefinitionName, type PublishedDocument } from './openapi-documents.js';
export { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_RESPONSE, encodeSwaggerProtobuf } from './openapi-v2-protobuf.js';
export { decodeTypeError } from './decode-types.js';
export { unknownFieldsOfBuiltin, unknownFieldsOfModel, unknownFieldsOfCustomResource, type StructuralSchema } from './unknown-fields.js';
export { duplicateFieldsInJson, duplicateFieldsInYaml } from './duplicate-fields.js';
export { parseFieldValidation, fieldValidationOutcome, unknownFieldProblems, pruneUnknownFields, type FieldValidationDirective, type FieldFindings, type FieldValidationOutcome } from './field-validation.js';
export { strategicMergePatch, supportsStrategicMergePatch, StrategicMergePatchError } from './strategic-merge-patch.js';
export {
  serverSideApply, updateManagedFields, defaultFieldManager, ApplyConflictError, ApplyBadRequestError,
  undeclaredApplyFields, dropUndeclaredFields, applyUnknownFieldsMessage,
  type ResourceTarget, type ApplyRequest, type UpdateRequest,
} from './apply/server-side-apply.js';
export { applyStep, managedFieldsStep, targetOf, type SchemaResource, type ApplyStepOptions } from './request-hooks.js';
