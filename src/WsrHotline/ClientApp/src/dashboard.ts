// The coordinators' dashboard (clocks, escalations, coverage): built with the escalation issue.
import { byId } from "./dom";

byId("status-line").textContent = "The dashboard is being built.";
