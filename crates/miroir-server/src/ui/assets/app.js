// Miroir's cluster page: reads the admin API (`/_miroir/topology`, `/_miroir/nodes`,
// `/_miroir/shards`) once a second with the master key kept in this tab's session storage,
// and changes the fleet (add, drain, remove a node; the replication factor; pause and resume
// the rebalance) after a confirmation. Every value from the server is written as text, never
// as HTML.
"use strict";

const KEY_ITEM = "miroirMasterKey";
const POLL_MS = 1000;
let pollTimer = null;

const $ = (id) => document.getElementById(id);

function masterKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${masterKey()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (_) {
      parsed = { message: text };
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, parsed);
  }
  return parsed;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function confirmAction(message) {
  const dialog = $("confirm");
  $("confirm-text").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-ok").focus();
  });
}

async function act(message, method, path, body) {
  if (!(await confirmAction(message))) return;
  try {
    await api(method, path, body);
    $("error").textContent = "";
  } catch (error) {
    $("error").textContent = `${error.message}${error.code ? ` (${error.code})` : ""}`;
  }
  refresh();
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function journalLag(node) {
  if (!node || !node.undelivered) return "none";
  const age = node.oldestUndeliveredSeconds;
  const ageText = age === null || age === undefined ? "" : `, oldest ${Math.round(age)} s`;
  return `${node.undelivered} ${node.undelivered === 1 ? "call" : "calls"}, ${formatBytes(node.undeliveredBytes || 0)}${ageText}`;
}

function renderNodes(topology, states) {
  const byId = new Map(states.results.map((n) => [n.id, n]));
  const body = $("nodes").querySelector("tbody");
  const rows = topology.nodes.map((node) => {
    const live = byId.get(node.id);
    const health = live ? live.health : "unknown";
    const row = element("tr");
    row.dataset.node = node.id;
    row.dataset.health = health;
    row.dataset.state = node.state;
    row.append(
      element("th", node.id),
      element("td", node.url),
      element("td", node.zone || "—"),
      element("td", node.state, "state"),
      element("td", live && live.lost ? `${health} (lost data)` : health, `health health-${health}`),
      element("td", node.shards, "number shards"),
      element("td", live ? live.readsInFlight : "—", "number"),
      element("td", journalLag(live), "lag"),
    );
    const actions = element("td");
    if (node.state === "active" || node.state === "joining") {
      const drain = element("button", "Drain");
      drain.type = "button";
      drain.dataset.action = "drain";
      drain.setAttribute("aria-label", `Drain ${node.id}`);
      drain.addEventListener("click", () =>
        act(`Drain ${node.id}? Its shards move to the other nodes; it serves until they have.`,
          "POST", `/_miroir/nodes/${encodeURIComponent(node.id)}/drain`));
      actions.append(drain, " ");
    }
    const force = health === "down";
    const remove = element("button", force ? "Remove (force)" : "Remove");
    remove.type = "button";
    remove.dataset.action = "remove";
    remove.setAttribute("aria-label", `Remove ${node.id}`);
    remove.addEventListener("click", () =>
      act(force
        ? `Remove ${node.id}, which is down? Its shards are copied again from the surviving replicas.`
        : `Remove ${node.id}? Only a node that holds no shard can be removed.`,
        "DELETE", `/_miroir/nodes/${encodeURIComponent(node.id)}${force ? "?force=true" : ""}`));
    actions.append(remove);
    row.append(actions);
    return row;
  });
  body.replaceChildren(...rows);
  return byId;
}

// The last running rebalance seen, so that its end shows as a full bar (the API reports an
// idle rebalance with no moves).
let lastRun = null;

function renderRebalance(rebalance) {
  const bar = $("rebalance-progress");
  let shown = rebalance;
  let finished = false;
  if (rebalance.state === "idle") {
    if (lastRun) {
      shown = { ...lastRun, movesDone: lastRun.movesTotal };
      finished = true;
    }
  } else {
    lastRun = rebalance;
  }
  $("rebalance-state").textContent = finished ? "idle (the last rebalance is done)" : rebalance.state;
  bar.dataset.state = finished ? "done" : rebalance.state;
  const total = shown.movesTotal || 0;
  const done = shown.movesDone || 0;
  bar.max = Math.max(total, 1);
  bar.value = total ? done : 0;
  const parts = [`${done} of ${total} shard moves`, `${shown.documentsCopied || 0} documents copied`];
  if (rebalance.etaSeconds !== null && rebalance.etaSeconds !== undefined && rebalance.state === "running") {
    parts.push(`about ${Math.round(rebalance.etaSeconds)} s left`);
  }
  if (rebalance.error) parts.push(`error: ${rebalance.error}`);
  $("rebalance-text").textContent = parts.join(", ");
  $("pause").disabled = rebalance.state !== "running";
  $("resume").disabled = rebalance.state !== "paused" && rebalance.state !== "failed";
}

function renderShards(shards, topology, states) {
  const map = $("shard-map");
  const blocks = shards.results.map((index) => {
    const block = element("div");
    block.dataset.index = index.indexUid;
    const stale = index.shards.reduce(
      (n, s) => n + s.replicas.filter((r) => r.state === "stale").length, 0);
    const title = element("p", index.indexUid, "index-title");
    title.append(element("span",
      ` ${index.whole ? "whole on every node" : `${index.shards.length} shards`}, ${stale} stale replicas`,
      "muted"));
    const table = element("table", null, "shard-table");
    const caption = element("caption", `Replicas of ${index.indexUid} by node and shard`);
    caption.className = "visually-hidden";
    const head = element("tr");
    head.append(element("th", "Node"));
    for (const shard of index.shards) {
      const th = element("th", shard.shard);
      th.scope = "col";
      head.append(th);
    }
    const thead = element("thead");
    thead.append(head);
    const tbody = element("tbody");
    for (const node of topology.nodes) {
      const row = element("tr");
      const th = element("th", node.id);
      th.scope = "row";
      row.append(th);
      const down = states.get(node.id) && states.get(node.id).health === "down";
      for (const shard of index.shards) {
        const cell = element("td");
        const replica = shard.replicas.find((r) => r.node === node.id);
        if (replica) {
          const shown = replica.state === "inSync" && down ? "unavailable" : replica.state;
          const mark = element("span", { inSync: "ok", stale: "stale", catchingUp: "new", unavailable: "down" }[shown],
            `replica ${shown}`);
          mark.title = `${index.indexUid} shard ${shard.shard} on ${node.id}: ${shown}`;
          cell.dataset.state = shown;
          cell.dataset.node = node.id;
          cell.append(mark);
        }
        row.append(cell);
      }
      tbody.append(row);
    }
    table.append(caption, thead, tbody);
    block.append(title, table);
    return block;
  });
  if (blocks.length === 0) blocks.push(element("p", "No index yet."));
  map.replaceChildren(...blocks);
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const [topology, states, shards] = await Promise.all([
      api("GET", "/_miroir/topology"),
      api("GET", "/_miroir/nodes"),
      api("GET", "/_miroir/shards"),
    ]);
    const byId = renderNodes(topology, states);
    renderRebalance(topology.rebalance);
    renderShards(shards, topology, byId);
    const down = states.results.filter((n) => n.health === "down").length;
    $("summary").textContent =
      `epoch ${topology.epoch} · RF ${topology.replicationFactor} · ` +
      `${topology.nodes.length} nodes, ${down} down · updated ${new Date().toLocaleTimeString()}`;
    if (document.activeElement !== $("rf")) $("rf").value = topology.replicationFactor;
    $("error").textContent = "";
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      signOut(`That key was refused: ${error.message}`);
      return;
    }
    $("error").textContent = `Miroir did not answer: ${error.message}`;
  }
  pollTimer = setTimeout(refresh, POLL_MS);
}

function showCluster(signedIn) {
  $("login").hidden = signedIn;
  $("cluster").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function signOut(message) {
  clearTimeout(pollTimer);
  sessionStorage.removeItem(KEY_ITEM);
  $("summary").textContent = "";
  $("login-error").textContent = message || "";
  showCluster(false);
  $("key").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_ITEM, $("key").value);
    $("key").value = "";
    $("login-error").textContent = "";
    showCluster(true);
    refresh();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("add-node").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { id: $("add-id").value, url: $("add-url").value };
    if ($("add-key").value) body.apiKey = $("add-key").value;
    if ($("add-zone").value) body.zone = $("add-zone").value;
    if ($("add-weight").value) body.weight = Number($("add-weight").value);
    act(`Add ${body.id} (${body.url})? Shards move to it once it is checked.`, "POST", "/_miroir/nodes", body)
      .then(() => form.reset());
  });
  $("rf-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const replicationFactor = Number($("rf").value);
    act(`Change the replication factor to ${replicationFactor}? Copies are added or dropped by a rebalance.`,
      "PATCH", "/_miroir/topology", { replicationFactor });
  });
  $("pause").addEventListener("click", () =>
    act("Pause the rebalance? No shard move advances until it is resumed.", "POST", "/_miroir/rebalance/pause"));
  $("resume").addEventListener("click", () =>
    act("Resume the rebalance?", "POST", "/_miroir/rebalance/resume"));
  if (masterKey()) {
    showCluster(true);
    refresh();
  } else {
    showCluster(false);
    $("key").focus();
  }
});
