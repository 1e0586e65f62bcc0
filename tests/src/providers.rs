//! Local HTTP servers that check pull-request API calls against the documented REST shapes of GitHub, GitLab, Azure DevOps and Gitea, and answer as those providers do.
