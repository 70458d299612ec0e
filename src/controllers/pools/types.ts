/** Wire shapes of the pool kinds, as stored (NodePool v1beta2, YurtAppSet v1beta1, SuperEdge grids v1). */
import type { KubernetesObject, V1Condition, V1LabelSelector, V1Taint } from '@kubernetes/client-node';

export const NODEPOOL_LABEL = 'apps.openyurt.io/nodepool';
/** OpenYurt's labels on a YurtAppSet's workloads. */
export const YURTAPPSET_REF_LABEL = 'apps.openyurt.io/ref-yurtappset';
export const POOL_NAME_LABEL = 'apps.openyurt.io/pool-name';
/** SuperEdge's labels on a grid's workloads and Service; the Service's topology annotation. */
export const GRID_SELECTOR_LABEL = 'superedge.io/grid-selector';
export const GRID_UNIQ_KEY_LABEL = 'superedge.io/grid-uniq-key';
export const TOPOLOGY_KEYS_ANNOTATION = 'topologyKeys';
/** The hash of what a controller last wrote into a workload it owns (a change means: patch it). */
export const DESIRED_HASH_ANNOTATION = 'pools.kedge.io/desired-hash';

export interface NodePool extends KubernetesObject {
  spec?: {
    type?: 'Edge' | 'Cloud';
    hostNetwork?: boolean;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    taints?: V1Taint[];
    interConnectivity?: boolean;
  };
  status?: { readyNodeNum?: number; unreadyNodeNum?: number; nodes?: string[] };
}

export interface ContainerImageTweak { name: string; targetImage: string }
export interface PatchTweak { path: string; operation: 'add' | 'remove' | 'replace'; value?: unknown }
export interface WorkloadTweak {
  pools?: string[];
  nodepoolSelector?: V1LabelSelector;
  tweaks: { replicas?: number; containerImages?: ContainerImageTweak[]; patches?: PatchTweak[] };
}
export interface WorkloadTemplateSpec { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> }

export interface YurtAppSet extends KubernetesObject {
  spec?: {
    workload?: {
      workloadTemplate?: { deploymentTemplate?: WorkloadTemplateSpec; statefulSetTemplate?: WorkloadTemplateSpec };
      workloadTweaks?: WorkloadTweak[];
    };
    nodepoolSelector?: V1LabelSelector;
    pools?: string[];
    revisionHistoryLimit?: number;
  };
  status?: {
    observedGeneration?: number;
    currentRevision?: string;
    conditions?: YurtAppSetCondition[];
    readyWorkloads?: number;
    updatedWorkloads?: number;
    totalWorkloads?: number;
  };
}
export type YurtAppSetCondition = Omit<V1Condition, 'lastTransitionTime' | 'observedGeneration'> & { lastTransitionTime?: string };

export interface GridSpec {
  gridUniqKey?: string;
  template?: Record<string, unknown>;
  templatePool?: Record<string, Record<string, unknown>>;
  templates?: Record<string, string>;
  defaultTemplateName?: string;
}
export interface WorkloadGrid extends KubernetesObject {
  spec?: GridSpec;
  status?: { states?: Record<string, unknown> };
}
