//! `mqadmin resetOffsetByTime` against a broker that resets the way RocketMQ 4 brokers do
//! (`useServerSideResetOffset = false`): the broker sends the new offsets to the running
//! group's clients (RESET_CONSUMER_CLIENT_OFFSET), and Courier's push consumer moves its queues
//! there, commits them and delivers everything again; with the group stopped, the admin sets
//! the offsets queue by queue instead.

mod common;

use std::time::Duration;

use common::{recorder, wait_until, Cluster};
use courier_client::{Admin, ConsumeFromWhere, Message, PushConsumer};

async fn committed(admin: &Admin, group: &str) -> i64 {
    admin
        .consumer_progress(group, Some("Rewound"))
        .await
        .map(|c| c.offset_table.iter().map(|(_, w)| w.consumer_offset).sum())
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_client_side_reset_rewinds_a_running_group() {
    let cluster = Cluster::start_with(1, |c| c.use_server_side_reset_offset = false).await;
    cluster.create_topic("Rewound", 2).await;
    let (got, listener) = recorder();
    let consumer = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("rewound-group")
        .subscribe("Rewound", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .persist_interval(Duration::from_millis(100))
        .start(listener)
        .await
        .unwrap();
    let p = cluster.producer();
    for i in 0..10 {
        p.send(Message::new("Rewound", format!("m{i}")))
            .await
            .unwrap();
    }
    let admin = cluster.admin();
    wait_until("10 consumed and committed", Duration::from_secs(20), || {
        let admin = &admin;
        let n = got.lock().len();
        async move { n == 10 && committed(admin, "rewound-group").await == 10 }
    })
    .await;

    let resets = admin
        .reset_offset_by_time("rewound-group", "Rewound", Some(0), true)
        .await
        .unwrap();
    assert_eq!(resets.len(), 2, "{resets:?}");
    assert!(resets.iter().all(|r| r.new == 0), "{resets:?}");
    // The consumer moves back (its parked pulls given up), consumes all ten again and commits.
    wait_until(
        "10 consumed again and committed",
        Duration::from_secs(20),
        || {
            let admin = &admin;
            let n = got.lock().len();
            async move { n == 20 && committed(admin, "rewound-group").await == 10 }
        },
    )
    .await;
    let mut bodies: Vec<String> = got
        .lock()
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 10, "every message twice, nothing else");

    // Stopped, the group has nobody to tell: the admin sets the offsets queue by queue.
    consumer.shutdown().await;
    admin
        .reset_offset_by_time("rewound-group", "Rewound", Some(0), true)
        .await
        .unwrap();
    assert_eq!(committed(&admin, "rewound-group").await, 0);

    admin.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}
