import { expect, test } from "vitest";
import { fewer, PAGE } from "./App";

test("show fewer steps back by pages, then halves", () => {
  expect(PAGE).toBe(6);
  expect(fewer(14)).toBe(12);
  expect(fewer(12)).toBe(6);
  expect(fewer(8)).toBe(6);
  expect(fewer(6)).toBe(3);
  expect(fewer(3)).toBe(1);
  expect(fewer(1)).toBe(1);
});
