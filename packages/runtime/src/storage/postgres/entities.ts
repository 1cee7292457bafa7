import type { EntitiesDocument } from '@mandate/protocol';
import type { EntityMethods } from '../port.js';
import {
  agentFromRow,
  agentParams,
  resourceFromRow,
  resourceParams,
  userFromRow,
  userParams,
  type Row,
} from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';

/** The advisory lock checked entity writes take (storage/postgres: 7731948201550001 audit, …02 migrations). */
const ENTITIES_LOCK = '7731948201550003';

const AGENT_INSERT =
  'INSERT INTO agents (id, roles, owner, status, attributes, parent) VALUES ($1, $2, $3, $4, $5, $6)';
const USER_INSERT = 'INSERT INTO users (id, roles, status, attributes) VALUES ($1, $2, $3, $4)';
const RESOURCE_INSERT = 'INSERT INTO resources (type, id, attributes, tags) VALUES ($1, $2, $3, $4)';

/** The PostgreSQL driver's agents, users and resources. */
export function createPostgresEntities({ run, one, tx }: PostgresDeps): EntityMethods {
  return {
    getAgent: (id) =>
      run(async () => {
        const r = await one('SELECT * FROM agents WHERE id = $1', [id]);
        return r ? agentFromRow(r) : null;
      }),
    getUser: (id) =>
      run(async () => {
        const r = await one('SELECT * FROM users WHERE id = $1', [id]);
        return r ? userFromRow(r) : null;
      }),
    getResource: (type, id) =>
      run(async () => {
        const r = await one('SELECT * FROM resources WHERE type = $1 AND id = $2', [type, id]);
        return r ? resourceFromRow(r) : null;
      }),
    putEntities: (doc: EntitiesDocument, check) =>
      run(() =>
        tx(async (c) => {
          if (check) {
            // Entity writes with a check serialise on one lock: two PUTs of lookalike ids sent at
            // once each checked before the other wrote, and both were stored (a probe).
            await c.query(`SELECT pg_advisory_xact_lock(${ENTITIES_LOCK})`);
            const ids = async (table: string) =>
              (await c.query<Row>(`SELECT id FROM ${table}`)).rows.map((r) => String(r.id));
            check({ agents: await ids('agents'), users: await ids('users') });
          }
          for (const a of doc.agents) {
            await c.query(
              `${AGENT_INSERT} ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, owner = excluded.owner,
                 status = excluded.status, attributes = excluded.attributes, parent = excluded.parent`,
              agentParams(a),
            );
          }
          for (const u of doc.users) {
            await c.query(
              `${USER_INSERT} ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, status = excluded.status,
                 attributes = excluded.attributes`,
              userParams(u),
            );
          }
          for (const r of doc.resources) {
            await c.query(
              `${RESOURCE_INSERT} ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, tags = excluded.tags`,
              resourceParams(r),
            );
          }
        }),
      ),
    setAgentStatus: (id, status) =>
      run(async () => {
        const r = await one('UPDATE agents SET status = $1 WHERE id = $2 RETURNING *', [status, id]);
        return r ? agentFromRow(r) : null;
      }),
    insertMissingEntities: (doc: EntitiesDocument) =>
      run(() =>
        // SECURITY: an entity the store holds is never overwritten here — a suspension made through
        // the API (on any node, even during this call) survives a start that seeds from a file. A
        // racing insert of the same key waits for the other transaction and then does nothing.
        tx(async (c) => {
          const inserted: EntitiesDocument = { agents: [], users: [], resources: [] };
          for (const a of doc.agents) {
            const r = await c.query(`${AGENT_INSERT} ON CONFLICT (id) DO NOTHING`, agentParams(a));
            if (r.rowCount === 1) inserted.agents.push(a);
          }
          for (const u of doc.users) {
            const r = await c.query(`${USER_INSERT} ON CONFLICT (id) DO NOTHING`, userParams(u));
            if (r.rowCount === 1) inserted.users.push(u);
          }
          for (const res of doc.resources) {
            const r = await c.query(
              `${RESOURCE_INSERT} ON CONFLICT (type, id) DO NOTHING`,
              resourceParams(res),
            );
            if (r.rowCount === 1) inserted.resources.push(res);
          }
          return inserted;
        }),
      ),
    listEntities: () =>
      run(() =>
        // REPEATABLE READ so the three lists come from one snapshot.
        tx(async (c) => {
          await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
          const q = async (sql: string) => (await c.query<Row>(sql)).rows;
          return {
            agents: (await q('SELECT * FROM agents ORDER BY ord')).map(agentFromRow),
            users: (await q('SELECT * FROM users ORDER BY ord')).map(userFromRow),
            resources: (await q('SELECT * FROM resources ORDER BY ord')).map(resourceFromRow),
          };
        }),
      ),
  };
}
