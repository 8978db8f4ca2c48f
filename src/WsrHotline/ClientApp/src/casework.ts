// Case work on the case page: filled in by the case-work panel (notes, summary, classification, …).
import type { Cases } from "./cases";

export function mountCaseWork(cases: Cases, role: string): void {
  void role;
  cases.addPanel(() => undefined);
}
