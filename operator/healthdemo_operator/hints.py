"""Advice for users, in the words of the tools they use: where a message says what to do."""

from __future__ import annotations

IMAGE_HINT = (
    "If you built the image locally: on minikube build it inside minikube "
    "(`minikube image build -t {image} .`, whatever its container runtime); on kind run "
    "`kind load docker-image {image}`; and keep imagePullPolicy IfNotPresent or Never."
)
