import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkFile, importsValues } from "../scripts/check_imports.ts";

describe("check_imports rule 6 (protobuf-es index values only where JSON or well-known types are needed)", () => {
  it("tells type-only import clauses from value imports", () => {
    const cases: Array<[string, boolean]> = [
      ["type { DescMessage }", false],
      ["{ type Any }", false],
      ["{ type A, type B }", false],
      ["type * as P", false],
      ["{ create }", true],
      ["{ type DescField, ScalarType }", true],
      ["* as pb", true],
      ["pb, { type A }", true],
    ];
    for (const [clause, values] of cases) assert.equal(importsValues(clause), values, clause);
  });

  it("flags a library module that imports values from the index or wkt", () => {
    const src = 'import { create, type DescMessage } from "@bufbuild/protobuf";\n' +
      'import { anyUnpack } from "@bufbuild/protobuf/wkt";\n';
    const problems = checkFile("src/task/options.ts", src).filter((p) => p.includes("rule 6"));
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0], /values from src\/api\/protobuf\.ts/);
  });

  it("accepts type-only imports, the facades, the JSON modules and tests", () => {
    const typeOnly = 'import type { DescMessage } from "@bufbuild/protobuf";\n' +
      'import { type Any } from "@bufbuild/protobuf/wkt";\n';
    assert.deepEqual(checkFile("src/task/options.ts", typeOnly), []);
    const values = 'import { create, fromJson } from "@bufbuild/protobuf";\n';
    for (const path of ["src/api/json.ts", "src/api/protobuf.ts", "vendor/ttrpc-ts/src/protobuf.ts"]) {
      assert.deepEqual(checkFile(path, values).filter((p) => p.includes("rule 6")), [], path);
    }
    assert.deepEqual(checkFile("src/task/options_test.ts", values).filter((p) => p.includes("rule 6")), []);
  });
});
