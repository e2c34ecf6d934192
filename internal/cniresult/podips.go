// Package cniresult reads what podint needs from a CNI result: the pod's
// addresses. The plugin reads it from prevResult at ADD, the daemon from
// the runtime's CNI cache when it reconciles; both must agree.
package cniresult

import (
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podint/podint/internal/registration"
)

// PodIPs are the addresses a result gives the pod interface podIf, with the
// subnets they belong to. An address belongs to the pod unless the result
// puts it on another interface inside the pod, as the plugin decides.
func PodIPs(res *current.Result, podIf string) []registration.PodIP {
	if res == nil {
		return nil
	}
	var ips []registration.PodIP
	for _, ip := range res.IPs {
		if ip.Interface != nil && *ip.Interface >= 0 && *ip.Interface < len(res.Interfaces) {
			if iface := res.Interfaces[*ip.Interface]; iface.Sandbox != "" && iface.Name != podIf {
				continue
			}
		}
		pip := registration.PodIP{
			Address: ip.Address.String(),
			Subnet:  (&net.IPNet{IP: ip.Address.IP.Mask(ip.Address.Mask), Mask: ip.Address.Mask}).String(),
		}
		if ip.Gateway != nil {
			pip.Gateway = ip.Gateway.String()
		}
		ips = append(ips, pip)
	}
	return ips
}
