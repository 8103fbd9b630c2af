import type { FuzzTarget } from '../target.js';
import { ikeEngine, ikeInner, ikeMessage } from './ike.js';
import { espUdp4500 } from './esp.js';
import { geneve, ipv4Udp } from './overlay.js';
import { clusterConfig, ipsecdConfig } from './config.js';
import { storeDocument } from './store.js';

/** Every parser that takes bytes from the network or the user. */
export const TARGETS: FuzzTarget[] = [ikeMessage, ikeInner, ikeEngine, espUdp4500, geneve, ipv4Udp, clusterConfig, ipsecdConfig, storeDocument];
