<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use PHPUnit\Framework\TestCase;

/** health(), checkHealth() and metrics() hand over what the core reports. */
final class ObservabilityTest extends TestCase
{
    public function testHealthDescribesTheNamespace(): void
    {
        $c = Support::cache('obs');
        $c->set('k', 1);
        $c->get('k');
        $h = $c->health();
        $this->assertSame($c->namespace, $h['namespace']);
        $this->assertSame('redis', $h['backend']);
        $this->assertSame('CLOSED', $h['circuit_breaker']['state']);
        $this->assertSame(1, $h['stats']['sets']);
        $this->assertGreaterThanOrEqual(1, $h['l1']['hits']);
        $this->assertArrayHasKey('features_enabled', $h);
    }

    public function testCheckHealthPingsRedis(): void
    {
        $h = Support::cache('obs')->checkHealth();
        $this->assertSame('healthy', $h['system']['status']);
        $this->assertIsFloat($h['system']['ping_latency_seconds']);
    }

    public function testMetricsArePrometheusTextWithTheReferenceNames(): void
    {
        $c = Support::cache('obs');
        $c->set('k', 1);
        $text = $c->metrics();
        $this->assertStringContainsString('# TYPE redis_cache_operations_total counter', $text);
        $this->assertStringContainsString('namespace="' . $c->namespace . '"', $text);
        $this->assertStringContainsString('cachekit_l1_entries', $text);
    }
}
