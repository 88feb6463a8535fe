"""Advice for users, in the words of the tools they use: where a message says what to do."""

from __future__ import annotations

IMAGE_HINT = (
    "If you built the image locally: on minikube build it inside minikube's Docker "
    "(`eval $(minikube docker-env)`, then `docker build -t {image} .`); on kind run "
    "`kind load docker-image {image}`; and keep imagePullPolicy IfNotPresent or Never."
)
