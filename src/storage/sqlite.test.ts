import { join } from 'node:path';
import { describeStoreConformance } from './conformance.js';
import { openSqliteStore } from './sqlite.js';

describeStoreConformance('sqlite', { open: (dir) => openSqliteStore(join(dir, 'kedge.db')) });
