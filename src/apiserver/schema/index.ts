/** Public surface of the schema package; see README.md. */
export type { ApiResourceInfo } from './resource-info.js';
export { OpenApiPublisher, customResourceDefinitionName, type PublishedDocument } from './openapi-documents.js';
