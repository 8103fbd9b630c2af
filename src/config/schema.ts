import { z } from 'zod';

/**
 * The shapes of the two input files, as OpenShift writes them. Objects are loose: a key we do
 * not know is kept and reported as a warning by `unknownKeys`, not rejected, because both files
 * carry many settings that do not concern the pod network. Subtrees typed `z.unknown()` are
 * opaque (e.g. `platform`): we neither check nor warn inside them.
 */

const int = (what: string) => z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` });
const str = (what: string) => z.string({ error: `expected ${what}` });

export const cidrEntrySchema = z.looseObject({
  cidr: z.unknown(),
  hostPrefix: int('an integer prefix length such as 23').optional(),
});

const machinePoolSchema = z.looseObject({
  name: str('a pool name').optional(),
  replicas: int('a whole number of machines').optional(),
  hyperthreading: z.enum(['Enabled', 'Disabled'], { error: 'expected Enabled or Disabled' }).optional(),
  architecture: z.unknown().optional(),
  platform: z.unknown().optional(),
});

export const installConfigSchema = z.looseObject({
  apiVersion: str('apiVersion: v1').optional(),
  baseDomain: str('a DNS domain such as example.com').optional(),
  compute: z.array(machinePoolSchema, { error: 'expected a list of machine pools' }).optional(),
  controlPlane: machinePoolSchema.optional(),
  metadata: z.looseObject({ name: str('a cluster name').optional() }).optional(),
  networking: z
    .looseObject({
      clusterNetworks: z.array(cidrEntrySchema, { error: 'expected a list of {cidr, hostPrefix}' }).optional(),
      clusterNetwork: z.array(cidrEntrySchema, { error: 'expected a list of {cidr, hostPrefix}' }).optional(),
      networkType: str('a network type such as OVNKubernetes').optional(),
      serviceNetwork: z.array(z.unknown(), { error: 'expected a list of CIDRs' }).optional(),
      machineNetwork: z.array(z.looseObject({ cidr: z.unknown() }), { error: 'expected a list of {cidr}' }).optional(),
      machineCIDR: z.unknown().optional(),
    })
    .optional(),
  platform: z.unknown().optional(),
  pullSecret: z.unknown().optional(),
  sshKey: z.unknown().optional(),
  fips: z.boolean({ error: 'expected true or false' }).optional(),
  proxy: z.unknown().optional(),
  additionalTrustBundle: z.unknown().optional(),
  additionalTrustBundlePolicy: z.unknown().optional(),
  imageContentSources: z.unknown().optional(),
  imageDigestSources: z.unknown().optional(),
  publish: z.unknown().optional(),
  credentialsMode: z.unknown().optional(),
  capabilities: z.unknown().optional(),
  featureSet: z.unknown().optional(),
  cpuPartitioningMode: z.unknown().optional(),
  bootstrapInPlace: z.unknown().optional(),
});
export type InstallConfigDoc = z.infer<typeof installConfigSchema>;

export const ipsecModes = ['Full', 'External', 'Disabled'] as const;
export const encapsulations = ['Always', 'Auto'] as const;

export const ipsecConfigSchema = z.looseObject({
  mode: z.unknown().optional(),
  full: z.looseObject({ encapsulation: z.unknown().optional() }).optional(),
});

export const networkCrSchema = z.looseObject({
  apiVersion: str('apiVersion: operator.openshift.io/v1'),
  kind: str('kind: Network'),
  metadata: z.looseObject({ name: str('metadata.name: cluster').optional() }).optional(),
  spec: z.looseObject({
    clusterNetwork: z.array(cidrEntrySchema, { error: 'expected a list of {cidr, hostPrefix}' }).optional(),
    serviceNetwork: z.array(z.unknown(), { error: 'expected a list of CIDRs' }).optional(),
    defaultNetwork: z
      .looseObject({
        type: str('a network type such as OVNKubernetes').optional(),
        ovnKubernetesConfig: z
          .looseObject({
            mtu: int('an integer MTU in bytes such as 1400').optional(),
            genevePort: int('a UDP port number such as 6081').optional(),
            ipsecConfig: z.union([ipsecConfigSchema, z.null()], { error: 'expected a mapping such as {} or {mode: Full}' }).optional(),
            v4InternalSubnet: z.unknown().optional(),
            v6InternalSubnet: z.unknown().optional(),
            gatewayConfig: z.unknown().optional(),
            policyAuditConfig: z.unknown().optional(),
            hybridOverlayConfig: z.unknown().optional(),
            egressIPConfig: z.unknown().optional(),
            ipv4: z.unknown().optional(),
            ipv6: z.unknown().optional(),
          })
          .optional(),
        openshiftSDNConfig: z.unknown().optional(),
      })
      .optional(),
    additionalNetworks: z.unknown().optional(),
    disableMultiNetwork: z.unknown().optional(),
    useMultiNetworkPolicy: z.unknown().optional(),
    deployKubeProxy: z.unknown().optional(),
    kubeProxyConfig: z.unknown().optional(),
    disableNetworkDiagnostics: z.unknown().optional(),
    exportNetworkFlows: z.unknown().optional(),
    logLevel: z.unknown().optional(),
    operatorLogLevel: z.unknown().optional(),
    managementState: z.unknown().optional(),
    migration: z.unknown().optional(),
    observedConfig: z.unknown().optional(),
    unsupportedConfigOverrides: z.unknown().optional(),
  }, { error: 'expected a mapping' }),
});
export type NetworkCrDoc = z.infer<typeof networkCrSchema>;
