// A minimal controller-runtime peer of the HealthDemo operator, for bench/operator_bench.py.
//
// One idea: a HealthDemo gets a Pod "<name>-webapp", and the Pod's container restarts are
// written to the HealthDemo's status.restarts. The HealthDemo is read as unstructured data
// (no generated types); the Pod is owned by it, so Pod changes reconcile the owner.
package main

import (
	"context"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

var healthDemoGVK = schema.GroupVersionKind{Group: "demo.example.com", Version: "v1", Kind: "HealthDemo"}

func newHealthDemo() *unstructured.Unstructured {
	hd := &unstructured.Unstructured{}
	hd.SetGroupVersionKind(healthDemoGVK)
	return hd
}

type reconciler struct {
	client.Client
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	hd := newHealthDemo()
	if err := r.Get(ctx, req.NamespacedName, hd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	pod := &corev1.Pod{}
	key := types.NamespacedName{Namespace: hd.GetNamespace(), Name: hd.GetName() + "-webapp"}
	err := r.Get(ctx, key, pod)
	if apierrors.IsNotFound(err) {
		pod = webappPod(key)
		if err := controllerutil.SetControllerReference(hd, pod, r.Scheme()); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, client.IgnoreAlreadyExists(r.Create(ctx, pod))
	}
	if err != nil {
		return ctrl.Result{}, err
	}

	for _, status := range pod.Status.ContainerStatuses {
		if status.Name != "webapp" {
			continue
		}
		restarts := int64(status.RestartCount)
		recorded, found, _ := unstructured.NestedInt64(hd.Object, "status", "restarts")
		if found && recorded == restarts {
			return ctrl.Result{}, nil
		}
		patch := client.MergeFrom(hd.DeepCopy())
		if err := unstructured.SetNestedField(hd.Object, restarts, "status", "restarts"); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.Status().Patch(ctx, hd, patch)
	}
	return ctrl.Result{}, nil
}

func webappPod(key types.NamespacedName) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      key.Name,
			Namespace: key.Namespace,
			Labels:    map[string]string{"bench.demo.example.com/peer": "go"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "webapp",
				Image:           "flask-webapp:latest",
				ImagePullPolicy: corev1.PullIfNotPresent,
				Ports:           []corev1.ContainerPort{{ContainerPort: 5000}},
				LivenessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(5000)},
					},
				},
			}},
		},
	}
}

func main() {
	ctrl.SetLogger(zap.New())
	log := ctrl.Log.WithName("go-peer")

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		// Read unstructured objects from the informer cache too, as typed ones are: the
		// default reads them live from the API server, one GET per reconcile.
		Client:                 client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		log.Error(err, "cannot create the manager")
		os.Exit(1)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		For(newHealthDemo()).
		Owns(&corev1.Pod{}).
		Complete(&reconciler{Client: mgr.GetClient()})
	if err != nil {
		log.Error(err, "cannot create the controller")
		os.Exit(1)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
