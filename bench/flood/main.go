// Command flood measures the server under a flood of hostile API requests (issue 9, point 6):
// many concurrent large POSTs that are unsigned, or signed with a known access key and a
// wrong secret, while a signed caller keeps calling. It prints the server's resident memory
// (VmRSS sampled every 20 ms, and the kernel's VmHWM peak) and the signed caller's latency
// before and during the flood.
//
//	go run ./bench/flood                        # 64 unsigned 100 MB POSTs at a time for 20 s
//	go run ./bench/flood -mode forged -size 69000000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("nimbus", "", "nimbus binary (default: build ./cmd/nimbus)")
	mode := flag.String("mode", "unsigned", "unsigned: no Authorization; forged: the admin key's id, a wrong signature, no payload hash")
	conc := flag.Int("c", 64, "concurrent flooding connections")
	size := flag.Int64("size", 100<<20, "bytes each POST announces and sends")
	dur := flag.Duration("d", 20*time.Second, "how long to flood")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "nimbus-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		if *bin, err = benchserver.Build(context.Background(), "", tmp); err != nil {
			return err
		}
	}
	srv, err := benchserver.Start(context.Background(), benchserver.Config{Bin: *bin,
		DataDir: filepath.Join(tmp, "data"), LogPath: filepath.Join(tmp, "server.log")})
	if err != nil {
		return err
	}
	defer srv.Kill()
	ep, client, pid := srv.Endpoint, srv.Lambda(), srv.PID()

	time.Sleep(2 * time.Second) // let the server settle
	idleRSS := benchserver.Memory(pid, "VmRSS")
	quiet, quietErrs := signedCalls(client, 200, nil)

	// Flood while sampling memory and calling.
	stop := make(chan struct{})
	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	u, _ := url.Parse(ep)
	for range *conc {
		wg.Go(func() { flood(u.Host, *mode, srv.Creds.AccessKeyID, *size, stop, &sent, &refused) })
	}
	sampling, stopSampling := context.WithCancel(context.Background())
	sampler := benchserver.SampleRSS(sampling, pid, 20*time.Millisecond)
	time.AfterFunc(*dur, func() { close(stop) })
	during, duringErrs := signedCalls(client, 0, stop)
	peak := sampler.Peak()
	stopSampling()
	wg.Wait()
	time.Sleep(time.Second)
	afterRSS := benchserver.Memory(pid, "VmRSS")
	hwm := benchserver.Memory(pid, "VmHWM")

	fmt.Printf("flood: %d concurrent %s POSTs of %d MB to /2015-03-31/functions for %s\n", *conc, *mode, *size>>20, *dur)
	fmt.Printf("  requests sent %d, refused %d\n", sent.Load(), refused.Load())
	fmt.Printf("  server RSS: idle %d MB, peak sampled %d MB, after %d MB, VmHWM %d MB\n", idleRSS>>20, peak>>20, afterRSS>>20, hwm>>20)
	fmt.Printf("  signed ListFunctions, quiet:  %s (errors %d)\n", summary(quiet), quietErrs)
	fmt.Printf("  signed ListFunctions, flood:  %s (errors %d)\n", summary(during), duringErrs)
	return nil
}

// flood sends POSTs with a large announced body on fresh connections until stop, counting the
// ones the server refused before taking their body.
func flood(host, mode, accessKeyID string, size int64, stop <-chan struct{}, sent, refused *atomic.Int64) {
	chunk := make([]byte, 64<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := net.Dial("tcp", host)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := time.Now().UTC()
		head := fmt.Sprintf("POST /2015-03-31/functions HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Type: application/json\r\nX-Amz-Date: %s\r\n",
			host, size, now.Format("20060102T150405Z"))
		if mode == "forged" {
			head += fmt.Sprintf("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=%064d\r\n",
				accessKeyID, now.Format("20060102"), 0)
		}
		sent.Add(1)
		done := make(chan struct{})
		go func() { // the response, whenever it comes
			defer close(done)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				if resp.StatusCode == 403 || resp.StatusCode == 413 {
					refused.Add(1)
				}
				resp.Body.Close()
			}
			c.Close()
		}()
		if _, err := io.WriteString(c, head+"\r\n"); err == nil {
			for left := size; left > 0; left -= int64(len(chunk)) {
				if _, err := c.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
					break // the server closed it: refused
				}
				select {
				case <-stop:
					c.Close() // the rest of the body will not come
					left = 0
				default:
				}
			}
		}
		<-done
	}
}

// signedCalls makes n signed calls (or calls until stop) and returns their latencies.
func signedCalls(c *lambdasdk.Client, n int, stop <-chan struct{}) ([]time.Duration, int) {
	var lat []time.Duration
	errs := 0
	for i := 0; n == 0 || i < n; i++ {
		if stop != nil {
			select {
			case <-stop:
				return lat, errs
			default:
			}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
		cancel()
		if err != nil {
			errs++
			continue
		}
		lat = append(lat, time.Since(start))
		if stop != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return lat, errs
}

func summary(lat []time.Duration) string {
	if len(lat) == 0 {
		return "no calls"
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return fmt.Sprintf("%d calls, p50 %s, p99 %s, max %s", len(lat), p(0.5).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
}
