// Pages of one project first ask the API for it: another tenant's (or a deleted) project id in
// the URL shows not-found, and nothing of it is read.
import type { ReactNode } from "react";
import { useApi } from "../hooks";
import type { Org, Project } from "../types";
import { ErrorBox, Loading, NotFound } from "./ui";

export function ProjectGate({
  org,
  projectId,
  children,
}: {
  org: Org;
  projectId: string;
  children: (project: Project) => ReactNode;
}) {
  const project = useApi<Project>(`/v1/projects/${encodeURIComponent(projectId)}`);
  if (project.loading && !project.data) return <Loading what="Loading the project" />;
  if (project.error?.status === 404 || (project.data && project.data.org_id !== org.id)) {
    return <NotFound detail={project.error?.detail ?? "Project not found"} />;
  }
  if (project.error || !project.data) return <ErrorBox error={project.error} />;
  return <>{children(project.data)}</>;
}
