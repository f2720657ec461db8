// An independent ActivityPub peer for the tests, built on Fedify: one actor, "reader",
// served over plain http on 127.0.0.1 (a port the OS picks, printed as the first line).
// The test drives it through /control/* (follow by WebFinger, reply, like, undo) and reads
// what it received (only activities whose signatures Fedify verified reach the listeners).
import http from "node:http";
import { Temporal } from "@js-temporal/polyfill";
import {
  Accept, Announce, Create, createFederation, Endpoints, Follow, Like, MemoryKvStore, Note,
  Person, PUBLIC_COLLECTION, Reject, Undo, Update, generateCryptoKeyPair,
} from "@fedify/fedify";

const federation = createFederation({ kv: new MemoryKvStore(), allowPrivateAddress: true });
const keyPairs = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  await generateCryptoKeyPair("Ed25519"),
];
const state = { accepted: [], rejected: [], received: [], errors: [] };
let origin = "";
let following = null; // { actor, follow } of the last Follow sent

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "reader") return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Reader Peer",
      url: new URL("/@reader", ctx.url),
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((key) => key.multikey),
    });
  })
  .setKeyPairsDispatcher(async (ctx, identifier) => (identifier === "reader" ? keyPairs : []));

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, async (ctx, accept) => {
    const follow = await accept.getObject();
    state.accepted.push({ actor: accept.actorId?.href, follow: follow?.id?.href ?? null });
  })
  .on(Reject, async (ctx, reject) => {
    state.rejected.push({ actor: reject.actorId?.href });
  })
  .on(Create, async (ctx, create) => record(ctx, "Create", create))
  .on(Update, async (ctx, update) => record(ctx, "Update", update))
  .onError(async (ctx, error) => {
    state.errors.push(String(error));
  });

async function record(ctx, type, activity) {
  const object = await activity.getObject();
  state.received.push({
    type,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    objectType: object?.constructor?.name ?? null,
    objectId: object?.id?.href ?? null,
    name: object?.name?.toString() ?? null,
    content: object?.content?.toString() ?? null,
    url: object?.url?.href ?? null,
  });
}

function context() {
  return federation.createContext(new URL(origin), undefined);
}

async function lookUpByWebFinger(webfinger) {
  const answer = await fetch(webfinger, { headers: { Accept: "application/jrd+json" } });
  if (!answer.ok) throw new Error(`WebFinger answered ${answer.status}`);
  const jrd = await answer.json();
  const self = jrd.links.find((link) => link.rel === "self");
  const actor = await context().lookupObject(self.href);
  if (actor == null) throw new Error(`could not look up ${self.href}`);
  return actor;
}

const controls = {
  async follow({ webfinger }) {
    const ctx = context();
    const actor = await lookUpByWebFinger(webfinger);
    const follow = new Follow({
      id: new URL(`/follows/${crypto.randomUUID()}`, origin),
      actor: ctx.getActorUri("reader"),
      object: actor.id,
    });
    await ctx.sendActivity({ identifier: "reader" }, actor, follow);
    following = { actor, follow };
    return { actor: actor.id.href, follow: follow.id.href, name: actor.name?.toString() };
  },
  async reply({ inReplyTo, content }) {
    const ctx = context();
    const note = new Note({
      id: new URL(`/notes/${crypto.randomUUID()}`, origin),
      attribution: ctx.getActorUri("reader"),
      to: PUBLIC_COLLECTION,
      replyTarget: new URL(inReplyTo),
      content,
      published: Temporal.Now.instant(),
    });
    const create = new Create({
      id: new URL(`${note.id.href}/create`),
      actor: ctx.getActorUri("reader"),
      object: note,
      to: PUBLIC_COLLECTION,
    });
    await ctx.sendActivity({ identifier: "reader" }, following.actor, create);
    return { note: note.id.href };
  },
  async like({ object, boost }) {
    const ctx = context();
    const Kind = boost ? Announce : Like;
    const activity = new Kind({
      id: new URL(`/likes/${crypto.randomUUID()}`, origin),
      actor: ctx.getActorUri("reader"),
      object: new URL(object),
    });
    await ctx.sendActivity({ identifier: "reader" }, following.actor, activity);
    return { id: activity.id.href };
  },
  async undo() {
    const ctx = context();
    const undo = new Undo({
      id: new URL(`/undos/${crypto.randomUUID()}`, origin),
      actor: ctx.getActorUri("reader"),
      object: following.follow,
    });
    await ctx.sendActivity({ identifier: "reader" }, following.actor, undo);
    return { undo: undo.id.href };
  },
};

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    const url = new URL(req.url, origin);
    if (url.pathname === "/control/state") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(state));
      return;
    }
    if (url.pathname.startsWith("/control/")) {
      const name = url.pathname.slice("/control/".length);
      const answer = await controls[name](JSON.parse(body.toString() || "{}"));
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(answer));
      return;
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const request = new Request(url, {
      method: req.method,
      headers,
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const response = await federation.fetch(request, { contextData: undefined });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    state.errors.push(String(error?.stack ?? error));
    res.writeHead(500, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: String(error) }));
  }
});

server.listen(0, "127.0.0.1", () => {
  origin = `http://127.0.0.1:${server.address().port}`;
  console.log(origin);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
