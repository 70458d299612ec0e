/** What the schema package needs to know about one served resource (the registry supplies these). */
export interface ApiResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** URL plural, e.g. `pods`. */
  plural: string;
  namespaced: boolean;
  /** Served subresources, e.g. `['status', 'scale']`. */
  subresources?: string[];
  /**
   * For custom resources: the version's `openAPIV3Schema` (a JSONSchemaProps object).
   * Omitted for built-in types, whose schema comes from @kubernetes/client-node's models.
   */
  schema?: Record<string, unknown>;
}

export function gvKey(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}
