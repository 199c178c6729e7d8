/**
 * The legacy v1 shim service (`containerd.runtime.linux.shim.v1.Shim`) on
 * top of the same simulated tasks. A v1 shim serves one container; requests
 * name processes by their own id (the container id for init, else the exec
 * id), and the namespace comes from `-namespace`, not a request header.
 *
 * @module
 */

import type { Any } from "@bufbuild/protobuf/wkt";
import { FailedPreconditionError } from "../errors.ts";
import { NAMESPACE_HEADER, type TaskService } from "./task_service.ts";

/** Topics a v1 shim publishes itself; containerd's v1 runtime publishes the rest (protocol-facts.md §5). */
export const V1_TOPICS: ReadonlySet<string> = new Set(["/tasks/exit", "/tasks/oom"]);

/**
 * Builds v1 Shim handlers (keyed by method localName) over a task service.
 *
 * @param svc the simulated tasks
 * @param namespace the `-namespace` flag value
 * @param shimPid the shim's pid for ShimInfo
 * @returns the handlers
 */
export function shimV1Handlers(
  svc: TaskService,
  namespace: string,
  shimPid: number,
): Record<string, (req: never) => unknown> {
  let containerId = "";
  const ctx = { metadata: { [NAMESPACE_HEADER]: [namespace || "default"] } };
  const cid = () => {
    if (!containerId) throw new FailedPreconditionError("container must be created: failed precondition");
    return containerId;
  };
  const execOf = (id: string) => (id === "" || id === containerId ? "" : id);
  const handlers = {
    async create(req: {
      id: string;
      bundle: string;
      terminal: boolean;
      stdin: string;
      stdout: string;
      stderr: string;
      checkpoint: string;
      rootfs: [];
    }) {
      const res = await svc.create({ ...req, rootfs: req.rootfs ?? [] }, ctx);
      containerId = req.id;
      return res;
    },
    state: (req: { id: string }) => svc.state({ id: cid(), execId: execOf(req.id) }),
    async start(req: { id: string }) {
      const { pid } = await svc.start({ id: cid(), execId: execOf(req.id) });
      return { id: req.id, pid };
    },
    delete: () => svc.delete({ id: cid(), execId: "" }),
    deleteProcess: (req: { id: string }) => svc.delete({ id: cid(), execId: execOf(req.id) }),
    listPids: () => svc.pids({ id: cid() }),
    pause: () => svc.pause({ id: cid() }),
    resume: () => svc.resume({ id: cid() }),
    checkpoint: () => svc.checkpoint({ id: cid() }),
    kill: (req: { id: string; signal: number; all: boolean }) =>
      svc.kill({ id: cid(), execId: execOf(req.id), signal: req.signal, all: req.all }),
    exec: (
      req: { id: string; terminal: boolean; stdin: string; stdout: string; stderr: string; spec?: Any },
    ) => svc.exec({ ...req, id: cid(), execId: req.id }),
    resizePty: (req: { id: string }) => svc.resizePty({ id: cid(), execId: execOf(req.id) }),
    closeIO: (req: { id: string }) => svc.closeIO({ id: cid(), execId: execOf(req.id) }),
    shimInfo: () => ({ shimPid }),
    update: () => svc.update({ id: cid() }),
    wait: (req: { id: string }) => svc.wait({ id: cid(), execId: execOf(req.id) }),
  };
  return handlers as unknown as Record<string, (req: never) => unknown>;
}
