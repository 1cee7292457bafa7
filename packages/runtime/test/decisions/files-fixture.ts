/** A filesystem tool set (modelled on @modelcontextprotocol/server-filesystem) and its policies. */
export const FILES_SCHEMA = `
entity Agent = { roles: Set<String>, status: String, owner?: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
entity Dir in [Dir];
entity File in [Dir] = { tags: Set<String> };
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };

action "files.read_text_file" appliesTo {
  principal: [Agent, User], resource: File,
  context: { args: { path: String }, time: Time, intent?: String }
};
action "files.write_file" appliesTo {
  principal: [Agent, User], resource: File,
  context: { args: { path: String, content: String }, time: Time, intent?: String }
};
action "files.get_file_info" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { path: String }, time: Time, intent?: String }
};
action "files.read_multiple_files" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { paths: Set<String> }, time: Time, intent?: String }
};
`;

export const FILES_POLICIES = {
  'files.cedar': `
@id("read-in-sandbox")
@reason("files-bot reads files under /srv/sandbox")
permit (principal is Agent, action == Action::"files.read_text_file", resource)
when { principal.roles.contains("files") && resource in Dir::"/srv/sandbox" };

@id("write-in-sandbox-needs-approval")
@approval("approver")
permit (principal is Agent, action == Action::"files.write_file", resource)
when { principal.roles.contains("files") && resource in Dir::"/srv/sandbox" };

@id("info-like-sandbox")
permit (principal is Agent, action == Action::"files.get_file_info", resource)
when { context.args.path like "/srv/sandbox/*" };

@id("read-many")
permit (principal is Agent, action == Action::"files.read_multiple_files", resource);
`,
};

export const FILES_TOOLS = [
  {
    action: 'files.read_text_file',
    inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
    resource: 'File::args.path',
    paths: { args: ['path'] },
    summary: 'Read {path}',
  },
  {
    action: 'files.write_file',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
    resource: 'File::args.path',
    paths: { args: ['path'] },
    summary: 'Write {path}',
  },
  {
    action: 'files.get_file_info',
    inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
    paths: { args: ['path'] },
  },
  {
    action: 'files.read_multiple_files',
    // The array idiom: a prefix pattern is sound on canonical values (validated after canonicalisation).
    inputSchema: {
      type: 'object',
      properties: { paths: { type: 'array', items: { type: 'string', pattern: '^/srv/sandbox/' } } },
      required: ['paths'],
    },
    paths: { args: ['paths[]'] },
  },
];

/** The traversal inputs of issue 8 §1; each names a file outside /srv/sandbox. */
export const TRAVERSALS = [
  '/srv/sandbox/../secret.txt',
  '/srv/sandbox/sub/../../secret.txt',
  '/srv/sandbox/./../x',
  '/srv/sandbox//../x',
];
export const NUL_PATH = '/srv/sandbox/hello.txt\u0000/../../secret.txt';
