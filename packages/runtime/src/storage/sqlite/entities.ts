import type { EntitiesDocument } from '@mandate/protocol';
import type { EntityMethods } from '../port.js';
import {
  agentFromRow,
  agentParams,
  resourceFromRow,
  resourceParams,
  userFromRow,
  userParams,
} from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';

const AGENT_COLUMNS =
  'INSERT INTO agents (id, roles, owner, status, attributes, parent) VALUES (?, ?, ?, ?, ?, ?)';
const USER_COLUMNS = 'INSERT INTO users (id, roles, status, attributes) VALUES (?, ?, ?, ?)';
const RESOURCE_COLUMNS = 'INSERT INTO resources (type, id, attributes, tags) VALUES (?, ?, ?, ?)';

/** The SQLite driver's agents, users and resources. */
export function createSqliteEntities({
  db,
  run,
  write,
  tx,
  readTx,
  all,
  get,
  exec,
}: SqliteDeps): EntityMethods {
  return {
    getAgent: (id) =>
      run(() => {
        const r = get('SELECT * FROM agents WHERE id = ?', id);
        return r ? agentFromRow(r) : null;
      }),
    getUser: (id) =>
      run(() => {
        const r = get('SELECT * FROM users WHERE id = ?', id);
        return r ? userFromRow(r) : null;
      }),
    getResource: (type, id) =>
      run(() => {
        const r = get('SELECT * FROM resources WHERE type = ? AND id = ?', type, id);
        return r ? resourceFromRow(r) : null;
      }),
    putEntities: (doc: EntitiesDocument, check) =>
      write(() =>
        tx(() => {
          // In the write transaction (BEGIN IMMEDIATE): no other writer between the check and the write.
          check?.({
            agents: all('SELECT id FROM agents').map((r) => String(r.id)),
            users: all('SELECT id FROM users').map((r) => String(r.id)),
          });
          const agent = db.prepare(
            `${AGENT_COLUMNS} ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, owner = excluded.owner,
               status = excluded.status, attributes = excluded.attributes, parent = excluded.parent`,
          );
          for (const a of doc.agents) agent.run(...agentParams(a));
          const user = db.prepare(
            `${USER_COLUMNS} ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, status = excluded.status,
               attributes = excluded.attributes`,
          );
          for (const u of doc.users) user.run(...userParams(u));
          const resource = db.prepare(
            `${RESOURCE_COLUMNS} ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, tags = excluded.tags`,
          );
          for (const r of doc.resources) resource.run(...resourceParams(r));
        }),
      ),
    setAgentStatus: (id, status) =>
      write(() =>
        tx(() => {
          if (exec('UPDATE agents SET status = ? WHERE id = ?', status, id).changes === 0) return null;
          return agentFromRow(get('SELECT * FROM agents WHERE id = ?', id)!);
        }),
      ),
    insertMissingEntities: (doc: EntitiesDocument) =>
      write(() =>
        // SECURITY: an entity the store holds is never overwritten here — a suspension made through
        // the API (on any node, even during this call) survives a start that seeds from a file.
        tx(() => {
          const agent = db.prepare(`${AGENT_COLUMNS} ON CONFLICT (id) DO NOTHING`);
          const user = db.prepare(`${USER_COLUMNS} ON CONFLICT (id) DO NOTHING`);
          const resource = db.prepare(`${RESOURCE_COLUMNS} ON CONFLICT (type, id) DO NOTHING`);
          return {
            agents: doc.agents.filter((a) => agent.run(...agentParams(a)).changes === 1),
            users: doc.users.filter((u) => user.run(...userParams(u)).changes === 1),
            resources: doc.resources.filter((r) => resource.run(...resourceParams(r)).changes === 1),
          };
        }),
      ),
    listEntities: () =>
      run(() =>
        readTx(() => ({
          agents: all('SELECT * FROM agents ORDER BY ord').map(agentFromRow),
          users: all('SELECT * FROM users ORDER BY ord').map(userFromRow),
          resources: all('SELECT * FROM resources ORDER BY ord').map(resourceFromRow),
        })),
      ),
  };
}
