/** Store-level benches' values: what the API server stores for a pod. */
/** A pod as the API server would store it (~1.3 KB of JSON), so row sizes are realistic. */
export function podJson(i: number): string {
  const name = `bench-pod-${i}`;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'bench',
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      creationTimestamp: new Date(0).toISOString(),
      labels: { app: 'bench', 'pod-template-hash': '5d8f7c9b4', index: String(i % 100) },
      annotations: { 'kedge.io/bench': 'storage' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'bench-5d8f7c9b4', uid: 'rs-uid', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/bench/app:1.2.3',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: 0,
      enableServiceLinks: true,
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  });
}
