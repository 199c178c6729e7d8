/**
 * `shimkit ls`: the same as `shimkit ps`.
 *
 * @module
 */

export { main } from "./ps.ts";
